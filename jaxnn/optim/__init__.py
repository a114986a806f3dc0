"""Optimizers beyond optax's own, as optax ``GradientTransformation``s.

* ``sdlm`` — the stochastic diagonal Levenberg–Marquardt method LeNet-5 was trained with
  (LeCun, Bottou, Bengio & Haffner 1998, Appendix C): a step ``η / (μ + h_kk)`` per
  parameter, ``h_kk`` the diagonal second derivative backpropagated by hand.
"""
