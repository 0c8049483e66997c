"""The five benchmarks; each ``run_*`` measures one server and returns a dict of figures."""
