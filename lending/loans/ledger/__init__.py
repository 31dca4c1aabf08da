"""The paper-ledger import: past loans read from a spreadsheet, checked, then written in one transaction.
May import core, audit, lending.register (assets, the import's file reading) and lending.loans.models."""
