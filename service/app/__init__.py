"""The application layer: what the service does on request, each use case in one place.

    compositions.py   request a composition: found, built now, or the calibrate job making it
    uploads.py        ingest an uploaded model: checked now, registered by an `ingest` job

Routes (service/api) and commands translate HTTP and argv to these calls and their results back;
the rules live here and below (service/jobs, service/serving), never in a route.
"""
