"""Plan on a simulated family whose ceilings grow with size (run by analyses/cli_examples.py)."""

import numpy as np
import pandas as pd

from scaling.across.predict import fit_across, plan
from scaling.across.sim import simulate_family

pd.set_option("display.width", 200)
# ceilings grow with log10(params); six sizes from 1e7 to 3e9 parameters, AR(1) noise
pts = simulate_family(np.random.default_rng(13), (7.0, 7.5, 8.0, 8.5, 9.0, 9.5))
res = fit_across(pts)["sim"]
cols = ["params", "ceiling_pred", "ceiling_lo", "ceiling_hi", "decades_beyond"]
print(res.predict([1e10, 1e11])[cols].round(4).to_string(index=False))
print()
print(plan(res, target=0.65, prob=0.8).summary()[["params", "status", *cols[1:]]].round(4).to_string(index=False))
