"""The paper-ledger import: past loans read from a spreadsheet, checked, then written in one transaction.
May import core, audit, lending.models, lending.importing and lending.loans.models."""
