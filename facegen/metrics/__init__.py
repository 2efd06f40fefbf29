"""How a model or a dataset is judged: FID/KID on the FID Inception network (fid, inception), distribution
distances (distances), identity measures (identity), face verification and the 10-fold protocol the field
reports (verification), and the `facegen evaluate` report that runs them (evaluate)."""
