"""What the office hands in for the ITA: the year's evidence bundle (one ZIP: the report, every evidence file
by indicator, manifests, an audit checkpoint; its CLI command and its job), and the submission's parts —
each measure's evidence with its public link, every public link of the year by catalogue item (CSV, XLSX),
the report's signature block.

May import core, audit, evidence.items, evidence.measures and evidence.report (the bundle holds the report);
the report takes `submission` from here, so submission imports nothing of the report.
"""
