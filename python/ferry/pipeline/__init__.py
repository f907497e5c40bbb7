"""Azure ML SDK v1's ``azureml.pipeline`` as ``ferry.pipeline``: ``ferry.pipeline.core`` (Pipeline,
PipelineData, PipelineParameter, PipelineRun, StepRun) and ``ferry.pipeline.steps``
(PythonScriptStep, CommandStep). The implementation lives in ``ferry.pipelines``,
``ferry.pipeline_steps`` and ``ferry.pipeline_run``; these modules map Azure's paths onto it."""
