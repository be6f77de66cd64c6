"""The DVC pipeline's library: params, data, the baseline, models, training, calibration, metrics, plots, exports."""
