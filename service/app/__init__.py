"""The application layer: what the service does on request, each use case in one place.

    compositions.py   request a composition: found, built now, or the calibrate job making it
    uploads.py        ingest an uploaded model: checked now, registered by an `ingest` job
    jobs.py           submit a job by its kind's name (train, modularize, calibrate, replace)
    predictions.py    predict with a selection of modules (its composition found or pruned now);
                      V2 inference (the model at its version, then serving's codec)

Routes (service/api) and commands translate HTTP and argv to these calls and their results back;
the rules live here and below (service/jobs, service/serving), never in a route. Where the layer
below is already the whole of a use case it is called as it is: a stored composition's predictions
are `Predictor.predict_json` and `.predict_images` (service/serving/predictor.py), and the checks a
job kind makes at submission and again when it runs are its module's in service/jobs (a worker,
below this layer, runs them too).
"""
