"""Infrastructure: one construct (or construct helper) per file; the L3 composes the others.

A sub-package, not a top-level ``constructs/`` folder: that name would shadow the ``constructs`` distribution
that aws-cdk-lib imports.
"""
