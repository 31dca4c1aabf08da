"""The chain's integrity: the canonical encoding and hash of an entry (chain), walking the chain (verify, with
its quick pass in scan), checkpoints outside the database and their signing key (checkpoints), the entries'
MACs (mac), verifying the stored chain in one process or several (runner), and backups (backup).

May import audit.models and core (db, models, dates, config); never audit's services, views or jobs, nor
lending or evidence. scan.py imports nothing but the standard library (workers load it from its file).
"""
