"""Helpers shared by the test suite (importable as ``helpers``: pytest.ini puts test/ on sys.path).

- ``helpers.audio``: ``harmonic`` (speech-like test signal), ``add_noise`` (white noise at an SNR);
- ``helpers.datadir``: ``make_data_dir`` (a Kaldi data dir of noisy/clean pairs);
- ``helpers.configs``: ``tiny_config``/``write_config`` (a fast training config for the tiny model).
"""
