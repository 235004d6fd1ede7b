"""What several tests share; test modules import from here, never from one another.

- replicas: tiny replicas of every dataset's official release (Fashion-MNIST idx files; Caltech-101, SUN397,
  VOC2007 classification, ImageNet and ImageNet-100; the torchvision-backed sets and their ``CASES``; VOC
  detection, ADE20K and NYUv2 normals), with the tables that say what each replica holds.
- launching: ``REPO`` (the repository root), ``launch()`` (launch.py in a subprocess, outputs under a tmp
  folder) and ``real_fmnist_or_skip()``.
- tasks: ``task_config()`` and ``build_task()`` (a task composed from its yaml) and ``context()`` (a CPU
  TaskContext).
- methods: ``build()`` (a registered method at smoke size on the small generator) and ``one_batch()``.
- references: the loss terms from their paper formulas, in numpy loops (``ref_variance``, ``ref_covariance``,
  ``ref_rd``, ``EPS``).
- pickles: the fake NVIDIA ``torch_utils`` / ``dnnlib`` modules official network pickles are written with
  (``fake_nvidia_modules``, ``FakeEasyDict``, ``MODULE_SRC``, ``FAKE_MODULES``).
- stylegan: ``randomize_()`` (random weights for the StyleGAN2-ADA networks), ``make_networks()`` (a small
  32 px G_ema / D pair) and ``write_official_pickle()`` (an official-layout network pickle of them).
- styleganxl: ``make_generator()`` (a tiny 32 px StyleGAN-XL with random weights) and ``write_official_pickle()``
  (a snapshot pickle as autonomousvision/stylegan_xl writes it, with a booby-trapped stand-in discriminator).
- biggan: ``tiny_biggan()`` / ``write_tiny_biggan()`` (a BigGAN-deep in the package's folder layout),
  ``random_biggan_deep_128()``, and the released CIFAR-10 state-dict files with random weights at full size:
  ``write_biggan_cifar10()`` (DiffAugment's BigGAN) and ``write_autogan_cifar10()`` (AutoGAN's, plain or as a
  train.py checkpoint).
- analysis: ``small_gan()`` (a random-weight small GAN with its discriminator attached), ``ConditionalPerLayer``
  (a conditional generator with per-layer ws), ``brightness_labels()`` and ``cache_umap_jit()`` (umap-learn's
  compiled functions kept on disk between test processes).
- pretraining: ``RESUME_CFG`` (the exact-resume tests' pretraining config) and ``assert_state_dicts_equal()``.
"""
