"""The self-proof: every broken variant and shape run through the whole suite, against a declared matrix."""
