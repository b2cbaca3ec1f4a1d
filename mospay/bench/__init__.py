"""`python -m mospay.bench`: the in-repo benchmark (MosPay next to a no-database ceiling app, same stub)."""
