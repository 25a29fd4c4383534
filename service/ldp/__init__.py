"""LDP study extension: collect owners' ε-LDP reports and estimate θ as a job.

Mounted by the app under ``/api/v1/ldp`` (``routes.router``); its tables
(``tables.LdpStudy``, ``tables.LdpBatch``) live in the job store. See ``docs/ldp.md``.
"""
