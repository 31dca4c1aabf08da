"""The report's output formats, one module each: `MIME` and `render(report) -> bytes` (an
evidence.report.compute.Report in, the file's bytes out). They lay out what the computation made and compute
nothing themselves; evidence.report's registry (`RENDERERS`) chooses among them."""
