"""Many runs: the Table 2 reproduction, λ sweeps, parallel jobs."""
