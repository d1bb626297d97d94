"""Ablations: do the LLM, the analysis phase and the cross stage actually help?

Arms (`conf/ablation/*.yaml`) each remove one component from the full method; every arm runs
over several seeds at an equal evaluation budget, each run in its own directory with its own
knowledge base. `python -m evolve.ablation run|gallery|report` runs them, re-evaluates the
best full-stage candidates against the domain baselines, and compares the arms with
bootstrap intervals and Holm-corrected rank tests. See docs/ablation.md.
"""
