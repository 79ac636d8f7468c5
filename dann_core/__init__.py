"""dann_core: domain-adversarial training (Ganin & Lempitsky, 2015) that streams what it learns."""
__version__ = "0.1.0"
