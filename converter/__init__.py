"""litert's converter: frontends -> graph IR -> passes -> quantization -> writer."""
