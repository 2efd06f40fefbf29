"""How a model or a dataset is judged: FID/KID on the FID Inception network (fid, inception), distribution
distances (distances), identity measures (identity), and the `facegen evaluate` report that runs them (evaluate)."""
