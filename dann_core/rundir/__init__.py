"""The run directory: its file names, the writer, the reader, the control file. The reader side imports no torch."""
