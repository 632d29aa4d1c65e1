"""Helpers shared by the test suite (importable as ``helpers``: pytest.ini puts test/ on sys.path).

- ``helpers.audio``: ``harmonic`` (speech-like test signal), ``add_noise`` (white noise at an SNR);
- ``helpers.datadir``: ``make_data_dir`` (a Kaldi data dir of noisy/clean pairs);
- ``helpers.configs``: ``tiny_config``/``write_config`` (a fast training config for the tiny model),
  ``run_args`` (mal-train arguments);
- ``helpers.bad_inputs``: data dirs with exactly one fault each (validator and loader tests);
- ``helpers.model_cases``: small model configurations and signals for the model tests.
"""
