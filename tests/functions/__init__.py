"""Small handler modules used as targets by the local Lambda runner's tests (and by others' tests)."""
