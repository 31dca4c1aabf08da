"""The request pipeline every blueprint shares: the route gate and file responses (routes), the edge checks
(edge), where an action came from (context), the form base and the core's forms (forms, form_messages),
one-time form tokens (form_tokens), the home page's panels (home) and a job's pages (job_views).

May import core's top modules (db, models, files, jobs, i18n, dates, recorder), core.people and
core.documents; never audit, lending or evidence.
"""
