"""People, roles, sign-in and the agency settings: the role tables and the object rules (permissions), people
and the settings (services), signing in and out (signin), and their pages (views).

May import core's top modules (db, models, recorder, i18n, dates) and core.web (the route gate, the forms);
never audit, lending or evidence.
"""
