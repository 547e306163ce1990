"""OrchestrationWorkflows: the controller (admission, start, resume, parking), the runner of
one workflow's steps, what the operator knows of each, retention, the store's mirror.
"""
