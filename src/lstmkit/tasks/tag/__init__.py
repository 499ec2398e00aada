"""Sequence tagging: a BiLSTM(-CRF) tagger for parts of speech and named entities."""
