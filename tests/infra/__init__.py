"""Tests of infra/: the Bicep stays consistent with the code, and no secret lives in infra/."""
