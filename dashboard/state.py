"""The names pages share: session-state keys one page sets and another reads, and the query
parameter that links to a run. Keys one page alone uses stay in that page."""

PENDING = "pending"      # {run name: time started}: runs a Start launched, followed before they are listed
FOLLOWED = "follow_sel"  # the runs Train & watch follows (its Follow box); Embeddings opens the first
RUN_QUERY = "run"        # ?run=NAME: the run Train & watch follows and Embeddings opens
