"""The OrchestrationEngine ``default``: its status, the emergency halt's response and
notification, the resource optimiser, the watch canary, the workflows' counts.
"""
