"""People, roles, sign-in and the agency settings: the role tables and object rules (permissions), the
accounts (users), signing in and out (signin), the settings (settings), and their pages (views).

May import core's top modules (db, models, recorder, i18n, dates) and core.web (the route gate, the forms);
never audit, lending or evidence.
"""
