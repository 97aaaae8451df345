"""File input and output: encoding detection, readers and atomic writers."""
