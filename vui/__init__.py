"""What goes beyond the capstone: decoding, language models, evaluation, transcription, the shipped
recipe, data download and synthesis, benchmarks and fast RNN kernels.

The capstone's own modules (``sample_models``, ``train_utils``, ``data_generator``, ``utils``,
``char_map``, ``create_desc_json``) stay at the top level, where the notebook imports them. Commands
run as modules from the project folder: ``python -m vui.run_notebook``, ``python -m vui.transcribe``.
"""
