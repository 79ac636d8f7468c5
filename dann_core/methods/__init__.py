"""What is trained: the modes, what each minimises in a step, and the paper's schedules."""
