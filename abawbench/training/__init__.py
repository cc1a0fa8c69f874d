"""Training the reference baseline: config (:mod:`.config`), data sources
(:mod:`.data`), device and DDP (:mod:`.device`), the one training loop (:mod:`.loop`),
the CNN stages (:mod:`.cnn`), inference (:mod:`.inference`) and the stage pipeline of
``abawbench train paper-baseline`` (:mod:`.paper_baseline`).

Importing this package imports nothing heavy: the CLI's error handling reads
:class:`.config.ConfigError` without pulling in torch.
"""
