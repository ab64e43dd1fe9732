"""Test helpers shared by every test folder: running the sandbox and Azurite as real processes."""
