"""The documents lending prints (the borrowing form and receipt, the demand letter) and the hook through
which it files documents as evidence. May import core and lending.loans.models."""
