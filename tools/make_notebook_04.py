# SPDX-License-Identifier: BSD-3-Clause
"""Writes notebooks/04_calibration.ipynb (unexecuted; CI executes it). Run from the repository root."""

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

cells = [
    new_markdown_cell("""# 04 — Calibration: from camera captures to a panel profile

A simulator is only as good as its profile. Here a **virtual camera** photographs a panel whose PSF we know —
a narrow core plus a wide halo, two Gaussians — through a tilted lens with vignetting, dark current, hot
pixels, shot and read noise. `calibration.psf_fit` then recovers the PSF and `peak_nits` from those captures
alone, picks the model by held-out residual, and we check the fitted profile's backlight against the truth.
The same steps run on a real panel with `dualmod calibrate capture` and `dualmod calibrate psf`."""),
    new_code_cell("""import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

import dualmod as dm
from calibration.captures import load_captures
from calibration.psf_fit import fit_psf, fit_figure
from calibration.virtual import VirtualCamera, render_captures
from dualmod.display.backlight import backlight

truth = dm.Panel.from_dict({
    "panel": {"name": "truth", "width": 480, "height": 270, "peak_nits": 900.0},
    "leds": {"layout": "grid", "rows": 9, "cols": 16},
    "psf": {"model": "gaussian_mixture", "weights": [0.7, 0.3], "sigmas": [15.0, 42.0]},
    "lcd": {"response": "gamma", "gamma": 2.2, "bit_depth": 8, "contrast_ratio": 1000.0}})
folder = Path(tempfile.mkdtemp()) / "captures"
camera = VirtualCamera(seed=1)
render_captures(truth, folder, camera, seed=1)
sorted(p.name for p in folder.iterdir())[:6], len(list(folder.iterdir()))"""),
    new_markdown_cell("""Each capture lights one sub-lattice of LEDs (every 4th row and column), so their light overlaps only a
little; a dark frame and an all-LEDs frame complete the set. This is what the camera recorded:"""),
    new_code_cell("""cs = load_captures(folder)
fig, ax = plt.subplots(1, 2, figsize=(12, 4))
for a, cap in zip(ax, cs.captures[:2]):
    im = a.imshow(cap.image, cmap="magma", vmax=np.percentile(cap.image, 99.9))  # hot pixels clip
    a.plot(*np.vstack([cs.corners, cs.corners[:1]]).T, "c-", lw=1)
    a.set_title(f"{cap.file}: {cap.leds_on.size} LEDs lit, {cap.exposure_s} s")
    fig.colorbar(im, ax=a, shrink=0.8, label="camera units")
plt.show()"""),
    new_markdown_cell("""The fit maps every capture to panel coordinates (dark subtraction scaled by exposure, flat field,
homography from the corner pixels), then fits all captures jointly — every lit LED of a capture together.
`auto` fits a single Gaussian, a two-Gaussian mixture and a radial table, each with captures held out in
turn, and keeps the simplest model within 2 % of the best held-out residual."""),
    new_code_cell("""fit = fit_psf(cs, "auto")
print("held-out rms (cd/m²):", {m: round(v, 3) for m, v in fit.heldout_rms.items()})
print("chosen:", fit.model, fit.psf)
print(f"peak_nits {fit.peak_nits:.2f} ± {fit.peak_nits_sd:.2g} (truth {truth.peak_nits}), "
      f"rms residual {fit.rms_pct_peak:.3f} % of peak, {fit.seconds:.1f} s")"""),
    new_code_cell("""from IPython.display import Image
fit_figure(fit, folder.parent / "fit.png")
Image(filename=str(folder.parent / "fit.png"))"""),
    new_markdown_cell("""**Does the profile predict what the panel shows?** Simulate the backlight of random LED frames with the
fitted profile and with the truth; the calibration target is 2 % of peak."""),
    new_code_cell("""fitted = dm.Panel.from_dict(fit.profile())
single = dm.Panel.from_dict({**fit.profile(), "psf": fit.candidates["gaussian"]["psf"],
                             "panel": {**fit.profile()["panel"], "peak_nits": fit.candidates["gaussian"]["peak_nits"]}})
leds = np.random.default_rng(0).uniform(0, 1, truth.n_leds)
bt = backlight(truth, leds)
fig, ax = plt.subplots(1, 2, figsize=(12, 3.6))
for a, (name, p) in zip(ax, [("fitted (" + fit.model + ")", fitted), ("single Gaussian", single)]):
    err = 100 * (backlight(p, leds) - bt) / truth.peak_nits
    im = a.imshow(err, cmap="coolwarm", vmin=-5, vmax=5)
    a.set_title(f"{name}: max |error| {np.abs(err).max():.2f} % of peak")
    fig.colorbar(im, ax=a, shrink=0.8, label="% of peak")
plt.show()"""),
    new_markdown_cell("""## LCD and LED responses from a photometer

`dualmod calibrate lcd` and `dualmod calibrate leds` read CSV files of photometer readings. Here, readings
of an LCD with γ = 2.4 and contrast 1500:1 (1 % meter noise), and of an LED driver with a dead zone and
thermal droop; the LED fit also gives the table a firmware applies to make light linear in the drive."""),
    new_code_cell("""from calibration.responses import fit_lcd, fit_led, read_lcd_measurements, read_led_measurements

rng = np.random.default_rng(2)
codes = np.r_[0:256:8, 255]
lcd_csv = folder.parent / "lcd.csv"
lcd_csv.write_text("channel,code,nits\\n" + "".join(
    f"white,{c},{600 * (1/1500 + (1 - 1/1500) * (c/255) ** 2.4) * (1 + 0.01 * rng.normal()):.5g}\\n" for c in codes))
lcd = fit_lcd(read_lcd_measurements(lcd_csv))
print(f"LCD: {lcd.response}, gamma {lcd.gamma:.3f}, contrast {lcd.contrast_ratio:.0f}:1, "
      f"power-law max error {lcd.gamma_max_err:.4f}")

drive = np.r_[0:4096:64, 4095]
x = drive / 4095
light = np.clip((x - 0.03) / 0.97, 0, None)
light = light - 0.2 * light ** 3
led_csv = folder.parent / "leds.csv"
led_csv.write_text("drive,nits\\n" + "".join(f"{d},{0.5 + 300 * v:.5f}\\n" for d, v in zip(drive, light)))
led = fit_led(read_led_measurements(led_csv))
table = led.linearizing_table(256)
print(f"LEDs: linearity error {led.linearity:.3f}, droop {led.droop:.3f}, dead zone up to drive {led.dead_zone_code}")
fig, ax = plt.subplots(1, 2, figsize=(11, 3.5))
ax[0].plot(x, led.light(drive), label="measured light"); ax[0].plot(x, x, "k:", label="linear")
ax[0].set(xlabel="drive / max", ylabel="light / max", title="LED response"); ax[0].legend()
ax[1].plot(np.linspace(0, 1, 256), led.light(table), label="light after the linearising table")
ax[1].plot([0, 1], [0, 1], "k:"); ax[1].set(xlabel="wanted light", ylabel="light", title="linearised"); ax[1].legend()
plt.show()"""),
    new_markdown_cell("""## On a real panel

```
dualmod calibrate capture captures/ --port /dev/ttyACM0 --panel proto-16x9-rgb \\
    --camera-info camera.json --exposure 0.5 --camera-cmd "grab-linear --shutter {exposure} -o {out}"
dualmod calibrate psf captures/ --out mypanel.toml --base proto-16x9-rgb
dualmod calibrate lcd lcd-readings.csv --base mypanel.toml --out mypanel.toml
```

`capture` shows each pattern through the bridge, runs the camera command (an argument list, no shell), keeps
the firmware's watchdog fed while the camera exposes, and rewrites `captures.json` after every image: run it
again after an interruption and it continues where it stopped."""),
]
nb = new_notebook(cells=cells, metadata={"kernelspec": {"display_name": "Python 3", "language": "python",
                                                        "name": "python3"}})
nbformat.write(nb, "notebooks/04_calibration.ipynb")
