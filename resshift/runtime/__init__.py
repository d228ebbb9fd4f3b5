"""How runs are controlled and hosted: progress and cancellation, the malloc tuning of long-lived
processes, compatibility shims for dependencies."""
