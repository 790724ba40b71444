"""Keras 2's function modules as Keras 2 code calls them: ``K`` (``from keras import backend as K``),
``activations``, ``regularizers``, ``initializers``, ``constraints`` and ``optimizers``, with Keras 2's
names, argument names, defaults and maths, on Keras 3 and every backend.

Each module is Keras 3's, plus what Keras 2 spelt or computed otherwise (FIDELITY.md, "The course's layer
names"): ``K.concatenate``'s axis -1, ``K.dot``'s numpy-style product, ``K.ctc_batch_cost``/``K.ctc_decode``
with the last class as the blank, ``activations.hard_sigmoid`` as ``clip(0.2 x + 0.5, 0, 1)``,
``regularizers.l1_l2``'s 0.01 defaults, ``optimizers.SGD(lr=..., decay=..., clipnorm=...)`` and Keras 2's
RMSprop, Adagrad and Nadam updates. What Keras 3 cannot do (``K.set_session``, ``K.function``, ...)
raises :class:`Keras2Removed`, a one-line error that says what to write instead.

Shapes: as Keras 2's; sequences (batch, frames, dims).
"""

from __future__ import annotations

import types

import numpy as np

from vui import backend  # noqa: F401  (picks KERAS_BACKEND before Keras loads)
import keras

from vui.layers import keras2_hard_sigmoid

ops = keras.ops


class Keras2Removed(AttributeError):
    """Keras 2 code with no Keras 3 equivalent under the same name; the message says what to write."""


class Keras2Module(types.ModuleType):
    """A Keras 2 module: its own names (`names`), then Keras 3's module `keras3`; a name in `removed`
    raises Keras2Removed with what to write instead."""

    def __init__(self, name: str, doc: str, names: dict, keras3=None, removed: dict[str, str] | None = None):
        super().__init__(name, doc)
        self.__dict__.update(names)
        self._keras3 = keras3
        self._removed = removed or {}

    def __getattr__(self, name: str):
        if name.startswith("__") or name in ("_keras3", "_removed"):
            raise AttributeError(name)
        if name in self._removed:
            raise Keras2Removed(f"{self.__name__}.{name} is Keras 2's: {self._removed[name]}")
        if self._keras3 is not None and hasattr(self._keras3, name):
            return getattr(self._keras3, name)
        raise AttributeError(f"Keras 2's {self.__name__} has no {name!r}")

    def __dir__(self):
        own = [n for n in self.__dict__ if not n.startswith("_")]
        return sorted(set(own) | set(dir(self._keras3) if self._keras3 is not None else ()) | set(self._removed))


# --- activations ----------------------------------------------------------------------------------
@keras.saving.register_keras_serializable(package="keras2")
def relu(x, alpha=0.0, max_value=None, threshold=0.0):
    """Keras 2's relu: x above `threshold` (capped at `max_value`), ``alpha * (x - threshold)`` below."""
    return keras.activations.relu(x, negative_slope=alpha, max_value=max_value, threshold=threshold)


@keras.saving.register_keras_serializable(package="keras2")
def elu(x, alpha=1.0):
    """Keras 2's elu: x for x > 0, ``alpha * (exp(x) - 1)`` below."""
    return keras.activations.elu(x, alpha=alpha)


@keras.saving.register_keras_serializable(package="keras2")
def softmax(x, axis=-1):
    """Keras 2's softmax over `axis` (the last by default)."""
    return keras.activations.softmax(x, axis=axis)


hard_sigmoid = keras2_hard_sigmoid  # clip(0.2 x + 0.5, 0, 1); Keras 3's is relu6(x + 3) / 6
ACTIVATION_FUNCTIONS: dict = {
    "softmax": softmax, "elu": elu, "selu": keras.activations.selu, "softplus": keras.activations.softplus,
    "softsign": keras.activations.softsign, "relu": relu, "tanh": keras.activations.tanh,
    "sigmoid": keras.activations.sigmoid, "hard_sigmoid": hard_sigmoid, "exponential": keras.activations.exponential,
    "linear": keras.activations.linear,
}
# Keras 2 functions whose default call is Keras 3's function: layers get Keras 3's (vui's fast RNN
# loops recognise it, and it serialises as Keras 3's)
_SAME_AS_KERAS3 = {relu: keras.activations.relu, elu: keras.activations.elu, softmax: keras.activations.softmax}


def activation(value):
    """Keras 2's meaning of an activation given by name or function: 'hard_sigmoid' is Keras 2's;
    everything else is what Keras 3 computes for it."""
    if isinstance(value, str):
        return hard_sigmoid if value == "hard_sigmoid" else value
    return next((keras3 for keras2, keras3 in _SAME_AS_KERAS3.items() if value is keras2), value)


def _get_activation(identifier):
    """activations.get: Keras 2's function for a name."""
    if isinstance(identifier, str) and identifier in ACTIVATION_FUNCTIONS:
        return ACTIVATION_FUNCTIONS[identifier]
    return keras.activations.get(identifier)


activations = Keras2Module("activations", "Keras 2's keras.activations: functions of a tensor.",
                           {**ACTIVATION_FUNCTIONS, "get": _get_activation}, keras.activations)

# --- regularizers ---------------------------------------------------------------------------------


def l1(l=0.01):  # noqa: E741  (Keras 2's argument name)
    """Keras 2's l1(l): ``l * sum(|w|)`` added to the loss."""
    return keras.regularizers.L1(l)


def l2(l=0.01):  # noqa: E741
    """Keras 2's l2(l): ``l * sum(w^2)`` added to the loss."""
    return keras.regularizers.L2(l)


def l1_l2(l1=0.01, l2=0.01):
    """Keras 2's l1_l2: both penalties, 0.01 each by default (Keras 3's l1_l2 defaults to 0)."""
    return keras.regularizers.L1L2(l1=l1, l2=l2)


regularizers = Keras2Module("regularizers", "Keras 2's keras.regularizers.",
                            {"l1": l1, "l2": l2, "l1_l2": l1_l2, "L1L2": keras.regularizers.L1L2,
                             "Regularizer": keras.regularizers.Regularizer}, keras.regularizers)

# --- initializers and constraints -----------------------------------------------------------------
initializers = Keras2Module(
    "initializers", "Keras 2's keras.initializers (the same initialisers in Keras 3), with Keras 2's aliases.",
    {"zero": keras.initializers.Zeros, "one": keras.initializers.Ones, "uniform": keras.initializers.RandomUniform,
     "normal": keras.initializers.RandomNormal}, keras.initializers)
constraints = Keras2Module(
    "constraints", "Keras 2's keras.constraints, with its Keras 1 aliases maxnorm, nonneg, unitnorm.",
    {"maxnorm": keras.constraints.MaxNorm, "nonneg": keras.constraints.NonNeg, "unitnorm": keras.constraints.UnitNorm},
    keras.constraints)

# --- optimizers -----------------------------------------------------------------------------------


def _keras2_optimizer_args(lr, decay: float, kwargs: dict) -> dict:
    """Keras 2's lr, decay and clipnorm as Keras 3's arguments: decay as InverseTimeDecay (Keras 2:
    ``lr / (1 + decay * iterations)``) and clipnorm as global_clipnorm (Keras 2 scaled all gradients
    by one global norm)."""
    lr = kwargs.pop("learning_rate", lr)
    if decay:
        lr = keras.optimizers.schedules.InverseTimeDecay(lr, decay_steps=1, decay_rate=decay)
    if "clipnorm" in kwargs:
        kwargs["global_clipnorm"] = kwargs.pop("clipnorm")
    return {"learning_rate": lr, **kwargs}


def _epsilon(epsilon) -> float:
    """Keras 2's epsilon=None: K.epsilon(), 1e-7."""
    return keras.backend.epsilon() if epsilon is None else epsilon


def SGD(lr=0.01, momentum=0.0, decay=0.0, nesterov=False, **kwargs):
    """Keras 2's SGD (the same update as Keras 3's)."""
    return keras.optimizers.SGD(momentum=momentum, nesterov=nesterov, **_keras2_optimizer_args(lr, decay, kwargs))


def Adam(lr=0.001, beta_1=0.9, beta_2=0.999, epsilon=None, decay=0.0, amsgrad=False, **kwargs):
    """Keras 2's Adam (the same update as Keras 3's)."""
    return keras.optimizers.Adam(beta_1=beta_1, beta_2=beta_2, epsilon=_epsilon(epsilon), amsgrad=amsgrad,
                                 **_keras2_optimizer_args(lr, decay, kwargs))


def Adamax(lr=0.002, beta_1=0.9, beta_2=0.999, epsilon=None, decay=0.0, **kwargs):
    """Keras 2's Adamax (the same update as Keras 3's)."""
    return keras.optimizers.Adamax(beta_1=beta_1, beta_2=beta_2, epsilon=_epsilon(epsilon),
                                   **_keras2_optimizer_args(lr, decay, kwargs))


def Adadelta(lr=1.0, rho=0.95, epsilon=None, decay=0.0, **kwargs):
    """Keras 2's Adadelta: the same update as Keras 3's, with Keras 2's learning rate 1.0."""
    return keras.optimizers.Adadelta(rho=rho, epsilon=_epsilon(epsilon), **_keras2_optimizer_args(lr, decay, kwargs))


class _Keras2Optimizer(keras.optimizers.Optimizer):
    """An optimizer with one slot variable per model variable and per name in `slots`."""

    slots: tuple[str, ...] = ()

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        self._slots = {name: [self.add_variable_from_reference(v, name) for v in var_list] for name in self.slots}

    def slot(self, name: str, variable):
        # _get_variable_index: how Keras' own optimizers find a variable's slots on every backend
        return self._slots[name][self._get_variable_index(variable)]


@keras.saving.register_keras_serializable(package="keras2")
class RMSprop(_Keras2Optimizer):
    """Keras 2's RMSprop: ``a = rho a + (1 - rho) g^2; w -= lr g / (sqrt(a) + epsilon)`` (Keras 3 puts
    epsilon inside the square root)."""

    slots = ("accumulator",)

    def __init__(self, lr=0.001, rho=0.9, epsilon=None, decay=0.0, name="RMSprop", **kwargs):
        super().__init__(name=name, **_keras2_optimizer_args(lr, decay, kwargs))
        self.rho, self.epsilon = rho, _epsilon(epsilon)

    def update_step(self, gradient, variable, learning_rate):
        lr, g = ops.cast(learning_rate, variable.dtype), ops.cast(gradient, variable.dtype)
        a = self.slot("accumulator", variable)
        self.assign(a, self.rho * a + (1 - self.rho) * ops.square(g))
        self.assign_sub(variable, lr * g / (ops.sqrt(a) + self.epsilon))

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "epsilon": self.epsilon}


@keras.saving.register_keras_serializable(package="keras2")
class Adagrad(_Keras2Optimizer):
    """Keras 2's Adagrad: ``a += g^2; w -= lr g / (sqrt(a) + epsilon)``, a from 0 (Keras 3: from 0.1,
    epsilon inside the square root)."""

    slots = ("accumulator",)

    def __init__(self, lr=0.01, epsilon=None, decay=0.0, name="Adagrad", **kwargs):
        super().__init__(name=name, **_keras2_optimizer_args(lr, decay, kwargs))
        self.epsilon = _epsilon(epsilon)

    def update_step(self, gradient, variable, learning_rate):
        lr, g = ops.cast(learning_rate, variable.dtype), ops.cast(gradient, variable.dtype)
        a = self.slot("accumulator", variable)
        self.assign_add(a, ops.square(g))
        self.assign_sub(variable, lr * g / (ops.sqrt(a) + self.epsilon))

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon}


@keras.saving.register_keras_serializable(package="keras2")
class Nadam(_Keras2Optimizer):
    """Keras 2's Nadam: momentum schedule ``beta_1 (1 - 0.5 * 0.96^(t * schedule_decay))`` (Keras 3's
    uses ``0.96^t``), otherwise Adam with Nesterov momentum."""

    slots = ("m", "v")

    def __init__(self, lr=0.002, beta_1=0.9, beta_2=0.999, epsilon=None, schedule_decay=0.004, name="Nadam", **kwargs):
        super().__init__(name=name, **_keras2_optimizer_args(lr, 0.0, kwargs))
        self.beta_1, self.beta_2, self.epsilon, self.schedule_decay = beta_1, beta_2, _epsilon(epsilon), schedule_decay

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        self.m_schedule = self.add_variable((), initializer="ones", name="m_schedule")

    def _momentum_cache(self, step):
        return self.beta_1 * (1.0 - 0.5 * ops.power(0.96, step * self.schedule_decay))

    def update_step(self, gradient, variable, learning_rate):
        lr, g = ops.cast(learning_rate, variable.dtype), ops.cast(gradient, variable.dtype)
        t = ops.cast(self.iterations + 1, variable.dtype)
        cache_t, cache_next = self._momentum_cache(t), self._momentum_cache(t + 1)
        # m_schedule holds the product of the caches of the steps before this one; it is advanced
        # once per step, after the last variable's update (update_step runs once per variable)
        schedule_new = self.m_schedule * cache_t
        m, v = self.slot("m", variable), self.slot("v", variable)
        self.assign(m, self.beta_1 * m + (1 - self.beta_1) * g)
        self.assign(v, self.beta_2 * v + (1 - self.beta_2) * ops.square(g))
        m_bar = (1 - cache_t) * g / (1 - schedule_new) + cache_next * m / (1 - schedule_new * cache_next)
        v_hat = v / (1 - ops.power(self.beta_2, t))
        self.assign_sub(variable, lr * m_bar / (ops.sqrt(v_hat) + self.epsilon))

    def apply(self, grads, trainable_variables=None):
        result = super().apply(grads, trainable_variables)
        # advance after the step (iterations was incremented by it: this step was iterations)
        self.assign(self.m_schedule, self.m_schedule * self._momentum_cache(ops.cast(self.iterations, "float32")))
        return result

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon,
                "schedule_decay": self.schedule_decay}


OPTIMIZERS: dict = {"SGD": SGD, "RMSprop": RMSprop, "Adagrad": Adagrad, "Adadelta": Adadelta, "Adam": Adam,
                    "Adamax": Adamax, "Nadam": Nadam}
optimizers = Keras2Module(
    "optimizers", "Keras 2's keras.optimizers: its argument names (lr, decay, clipnorm as a global norm) and updates.",
    {**OPTIMIZERS, **{name.lower(): value for name, value in OPTIMIZERS.items()}}, keras.optimizers,
    removed={"TFOptimizer": "write a keras.optimizers optimizer (TensorFlow 1's tf.train optimizers are gone)"})

# --- K: the backend functions ---------------------------------------------------------------------


def _int_shape(x):
    return tuple(x.shape)


def concatenate(tensors, axis=-1):
    """K.concatenate: along the last axis by default (keras.ops: the first)."""
    return ops.concatenate(tensors, axis=axis)


def dot(x, y):
    """K.dot as numpy's dot: sums x's last axis against y's second-to-last, (2, 3) . (4, 3, 5) -> (2, 4, 5)."""
    if len(y.shape) <= 2 or len(x.shape) <= 1:
        return ops.matmul(x, y)
    return ops.tensordot(x, y, axes=[[len(x.shape) - 1], [len(y.shape) - 2]])


def batch_flatten(x):
    """(batch, ...) -> (batch, product of the rest)."""
    return ops.reshape(x, (ops.shape(x)[0], -1))


def repeat(x, n):
    """K.repeat: (batch, dims) -> (batch, n, dims), as RepeatVector."""
    return ops.repeat(ops.expand_dims(x, 1), n, axis=1)


def l2_normalize(x, axis=None):
    """x / sqrt(max(sum(x^2 over axis), epsilon))."""
    x = ops.convert_to_tensor(x)
    return x / ops.sqrt(ops.maximum(ops.sum(ops.square(x), axis=axis, keepdims=True), keras.backend.epsilon()))


def switch(condition, then_expression, else_expression):
    """K.switch: elementwise where; either branch may be a function of no arguments."""
    then_value = then_expression() if callable(then_expression) else then_expression
    else_value = else_expression() if callable(else_expression) else else_expression
    return ops.where(condition, then_value, else_value)


def variable(value, dtype=None, name=None, constraint=None):
    """A keras.Variable holding `value`."""
    return keras.Variable(np.asarray(value), dtype=dtype or keras.backend.floatx(), name=name, constraint=constraint)


def batch_set_value(pairs) -> None:
    """Assign each (variable, value) pair."""
    for x, value in pairs:
        x.assign(value)


def conv(x, kernel, strides=1, padding="valid", data_format=None, dilation_rate=1):
    """K.conv1d/K.conv2d: keras.ops.conv with Keras 2's argument names."""
    return ops.conv(x, kernel, strides, padding, data_format, dilation_rate)


def ctc_batch_cost(y_true, y_pred, input_length, label_length):
    """Keras 2's CTC loss per utterance, (batch, 1): labels y_true (batch, max_label_len), softmax
    outputs y_pred (batch, frames, classes) whose last class is the blank, lengths (batch, 1)."""
    lengths = [ops.reshape(ops.cast(n, "int32"), (-1,)) for n in (label_length, input_length)]
    log_probs = ops.log(ops.cast(y_pred, "float32") + keras.backend.epsilon())
    loss = ops.ctc_loss(ops.cast(y_true, "int32"), log_probs, *lengths, mask_index=y_pred.shape[-1] - 1)
    return ops.expand_dims(loss, -1)


def ctc_decode(y_pred, input_length, greedy=True, beam_width=100, top_paths=1):
    """Keras 2's CTC decoding of softmax outputs (batch, frames, classes), the last class the blank:
    returns ([top_paths tensors (batch, longest decoding) of class indices padded with -1], log
    probabilities (batch, top_paths))."""
    decoded, log_prob = ops.ctc_decode(ops.log(ops.cast(y_pred, "float32") + keras.backend.epsilon()),
                                       ops.reshape(ops.cast(input_length, "int32"), (-1,)),
                                       strategy="greedy" if greedy else "beam_search", beam_width=beam_width,
                                       top_paths=top_paths, mask_index=y_pred.shape[-1] - 1)
    paths = []
    for path in ops.unstack(decoded, axis=0) if top_paths > 1 else [decoded[0]]:
        width = int(np.max(np.sum(ops.convert_to_numpy(path) >= 0, axis=-1), initial=0))
        paths.append(path[:, :width])  # TensorFlow's sparse-to-dense width: the longest decoding
    return paths, log_prob


BACKEND_FUNCTIONS: dict = {
    # the same call in keras.ops, under Keras 2's name or defaults
    "concatenate": concatenate, "dot": dot, "batch_flatten": batch_flatten, "repeat": repeat,
    "l2_normalize": l2_normalize, "switch": switch, "variable": variable,
    "ctc_batch_cost": ctc_batch_cost, "ctc_decode": ctc_decode, "conv1d": conv, "conv2d": conv,
    "expand_dims": lambda x, axis=-1: ops.expand_dims(x, axis),
    "argmax": lambda x, axis=-1: ops.argmax(x, axis=axis), "argmin": lambda x, axis=-1: ops.argmin(x, axis=axis),
    "cumsum": lambda x, axis=0: ops.cumsum(x, axis=axis), "cumprod": lambda x, axis=0: ops.cumprod(x, axis=axis),
    "arange": lambda start, stop=None, step=1, dtype="int32": ops.arange(start, stop, step, dtype=dtype),
    "flatten": lambda x: ops.reshape(x, (-1,)),
    "permute_dimensions": lambda x, pattern: ops.transpose(x, pattern),
    "pow": lambda x, a: ops.power(x, a), "gather": lambda reference, indices: ops.take(reference, indices, axis=0),
    "repeat_elements": lambda x, rep, axis: ops.repeat(x, rep, axis=axis),
    "reverse": lambda x, axes: ops.flip(x, axis=axes),
    "int_shape": _int_shape, "ndim": lambda x: len(x.shape),
    "dtype": lambda x: keras.backend.standardize_dtype(x.dtype),
    "count_params": lambda x: int(np.prod(x.shape)),
    "eval": ops.convert_to_numpy, "get_value": ops.convert_to_numpy,
    "batch_get_value": lambda xs: [ops.convert_to_numpy(x) for x in xs],
    "set_value": lambda x, value: x.assign(value),
    "batch_set_value": batch_set_value,
    "constant": lambda value, dtype=None, shape=None, name=None: (
        ops.full(shape, value, dtype=dtype or keras.backend.floatx()) if shape is not None
        else ops.convert_to_tensor(value, dtype=dtype or keras.backend.floatx())),
    "zeros": lambda shape, dtype=None, name=None: ops.zeros(shape, dtype=dtype or keras.backend.floatx()),
    "ones": lambda shape, dtype=None, name=None: ops.ones(shape, dtype=dtype or keras.backend.floatx()),
    "eye": lambda size, dtype=None, name=None: ops.eye(size, dtype=dtype or keras.backend.floatx()),
    "zeros_like": lambda x, dtype=None, name=None: ops.zeros_like(x, dtype=dtype),
    "ones_like": lambda x, dtype=None, name=None: ops.ones_like(x, dtype=dtype),
    "cast_to_floatx": lambda x: np.asarray(x, dtype=keras.backend.floatx()),
    "identity": lambda x, name=None: ops.copy(x),
    "bias_add": lambda x, bias, data_format=None: x + bias,
    "temporal_padding": lambda x, padding=(1, 1): ops.pad(x, [(0, 0), tuple(padding), (0, 0)]),
    "dropout": lambda x, level, noise_shape=None, seed=None: keras.random.dropout(x, level, noise_shape, seed),
    "random_normal": lambda shape, mean=0.0, stddev=1.0, dtype=None, seed=None: keras.random.normal(
        shape, mean, stddev, dtype=dtype, seed=seed),
    "random_uniform": lambda shape, minval=0.0, maxval=1.0, dtype=None, seed=None: keras.random.uniform(
        shape, minval, maxval, dtype=dtype, seed=seed),
    "truncated_normal": lambda shape, mean=0.0, stddev=1.0, dtype=None, seed=None: keras.random.truncated_normal(
        shape, mean, stddev, dtype=dtype, seed=seed),
    "binary_crossentropy": lambda target, output, from_logits=False: ops.binary_crossentropy(
        target, output, from_logits=from_logits),
    "categorical_crossentropy": lambda target, output, from_logits=False, axis=-1: ops.categorical_crossentropy(
        target, output, from_logits=from_logits, axis=axis),
    "sparse_categorical_crossentropy": lambda target, output, from_logits=False, axis=-1: (
        ops.sparse_categorical_crossentropy(target, output, from_logits=from_logits, axis=axis)),
    "relu": relu, "elu": elu, "softmax": softmax, "hard_sigmoid": hard_sigmoid,
    "image_dim_ordering": lambda: "tf" if keras.backend.image_data_format() == "channels_last" else "th",
}
# Keras 2 functions that are keras.ops' function of the same name with the same arguments
SAME_IN_OPS: tuple[str, ...] = (
    "abs", "all", "any", "cast", "clip", "cos", "equal", "exp", "greater", "greater_equal", "less", "less_equal",
    "log", "logsumexp", "max", "maximum", "mean", "min", "minimum", "not_equal", "one_hot", "prod", "reshape", "round",
    "shape", "sigmoid", "sign", "sin", "softplus", "softsign", "sqrt", "square", "squeeze", "stack", "std",
    "stop_gradient", "sum", "tanh", "tile", "transpose", "var")

KERAS2_BACKEND_REMOVED: dict[str, str] = {
    "set_session": "TensorFlow 2 has no sessions: delete the call; to let TensorFlow take GPU memory as it needs it, "
                   "call train_utils.configure_gpu_memory_growth()",
    "get_session": "TensorFlow 2 has no sessions: delete the call",
    "tensorflow_backend": "keras.backend.tensorflow_backend is gone: delete the session code, or use "
                          "train_utils.configure_gpu_memory_growth() to limit GPU memory",
    "learning_phase": "pass training=True/False to the layer or model call instead",
    "set_learning_phase": "pass training=True/False to the layer or model call instead",
    "in_train_phase": "write a layer whose call(inputs, training=None) chooses by `training`",
    "in_test_phase": "write a layer whose call(inputs, training=None) chooses by `training`",
    "function": "call the model (model(x) or model.predict(x)), or build a keras.Model from the tensors you need",
    "placeholder": "write keras.Input(shape=...) (Keras 3 has no placeholders)",
    "gradients": "compute gradients with your backend (torch.autograd, jax.grad, tf.GradientTape)",
    "batch_dot": "write keras.ops.einsum (e.g. 'bij,bjk->bik') or keras.ops.matmul for batched products",
    "rnn": "write keras.layers.RNN with a cell",
    "update": "write variable.assign(value)", "update_add": "write variable.assign_add(value)",
    "moving_average_update": "write variable.assign(momentum * variable + (1 - momentum) * value)",
}


class _Keras2Backend(types.ModuleType):
    """``K`` of ``from keras import backend as K``: Keras 2's backend functions that keras.ops computes
    the same way (under Keras 2's names and defaults), Keras 3's keras.backend, and a one-line error
    that says what to write for each Keras 2 function Keras 3 cannot provide."""

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        if name in KERAS2_BACKEND_REMOVED:
            raise Keras2Removed(f"K.{name} is Keras 2's: {KERAS2_BACKEND_REMOVED[name]}")
        if name in BACKEND_FUNCTIONS:
            return BACKEND_FUNCTIONS[name]
        if name in SAME_IN_OPS:
            return getattr(ops, name)
        if hasattr(keras.backend, name):
            return getattr(keras.backend, name)
        instead = f"keras.ops.{name}" if hasattr(ops, name) else "the keras.ops function that does it"
        raise Keras2Removed(f"K.{name} is Keras 2's: Keras 3's backend functions are in keras.ops; write {instead} "
                            "(check its arguments: some defaults changed, e.g. concatenate's axis)")

    def __dir__(self):
        return sorted(set(dir(keras.backend)) | set(KERAS2_BACKEND_REMOVED) | set(BACKEND_FUNCTIONS) | set(SAME_IN_OPS))


K = _Keras2Backend("K", "Keras' backend, as Keras 2 code calls it (``from keras import backend as K``).")
