"""A small training loop for the NumPy models (the CS231n Solver, trimmed).

    solver = Solver(model, data, update_rule="adam", optim_config={"learning_rate": 1e-3})
    solver.train()
    solver.loss_history, solver.train_acc_history, solver.val_acc_history

The model needs `params` (dict of arrays) and `loss(X, y=None)` returning scores without y and
(loss, grads) with y. Update rules come from course_utils.optim.RULES.
"""

import numpy as np
from tqdm.auto import tqdm

from course_utils.optim import RULES

Array = np.ndarray


class Solver:
    """Minibatch training with one of course_utils.optim's update rules.

    Args:
        model: object with `params` and `loss` as above.
        data: {"X_train", "y_train", "X_val", "y_val"}.
        update_rule: a key of course_utils.optim.RULES.
        optim_config: hyperparameters for the rule (each parameter gets its own copy).
        lr_decay: the learning rate is multiplied by this after each epoch.
        batch_size, num_epochs: as usual.
        num_train_samples: examples used to estimate the training accuracy each epoch.
        seed: seed of the generator that draws the minibatches.
        progress: show a tqdm bar.
    """

    def __init__(self, model, data: dict[str, Array], update_rule: str = "sgd",
                 optim_config: dict | None = None, lr_decay: float = 1.0, batch_size: int = 100,
                 num_epochs: int = 10, num_train_samples: int = 1000, seed: int = 0,
                 progress: bool = True):
        if update_rule not in RULES:
            raise ValueError(f"update_rule must be one of {sorted(RULES)}, got {update_rule!r}")
        self.model, self.update_rule = model, RULES[update_rule]
        self.X_train, self.y_train = data["X_train"], data["y_train"]
        self.X_val, self.y_val = data["X_val"], data["y_val"]
        self.lr_decay, self.batch_size, self.num_epochs = lr_decay, batch_size, num_epochs
        self.num_train_samples, self.progress = num_train_samples, progress
        self.rng = np.random.default_rng(seed)
        self.configs = {name: dict(optim_config or {}) for name in model.params}
        self.loss_history: list[float] = []
        self.train_acc_history: list[float] = []
        self.val_acc_history: list[float] = []
        self.best_val_acc, self.best_params = 0.0, {}

    def _step(self) -> None:
        idx = self.rng.choice(len(self.X_train), self.batch_size)
        loss, grads = self.model.loss(self.X_train[idx], self.y_train[idx])
        self.loss_history.append(float(loss))
        for name, w in self.model.params.items():
            self.model.params[name], self.configs[name] = self.update_rule(
                w, grads[name], self.configs[name])

    def check_accuracy(self, X: Array, y: Array, num_samples: int | None = None,
                       batch_size: int = 500) -> float:
        """Fraction of correct predictions, on at most num_samples random examples."""
        if num_samples is not None and len(X) > num_samples:
            idx = self.rng.choice(len(X), num_samples, replace=False)
            X, y = X[idx], y[idx]
        preds = np.concatenate([self.model.loss(X[i:i + batch_size]).argmax(axis=1)
                                for i in range(0, len(X), batch_size)])
        return float(np.mean(preds == y))

    def train(self) -> "Solver":
        """Run num_epochs epochs; keep the parameters with the best validation accuracy."""
        per_epoch = max(len(self.X_train) // self.batch_size, 1)
        bar = tqdm(total=per_epoch * self.num_epochs, disable=not self.progress, leave=False)
        for _ in range(self.num_epochs):
            for _ in range(per_epoch):
                self._step()
                bar.update()
            for config in self.configs.values():
                if "learning_rate" in config:
                    config["learning_rate"] *= self.lr_decay
            train_acc = self.check_accuracy(self.X_train, self.y_train, self.num_train_samples)
            val_acc = self.check_accuracy(self.X_val, self.y_val)
            self.train_acc_history.append(train_acc)
            self.val_acc_history.append(val_acc)
            bar.set_postfix(loss=f"{self.loss_history[-1]:.3f}", val_acc=f"{val_acc:.3f}")
            if val_acc >= self.best_val_acc:
                self.best_val_acc = val_acc
                self.best_params = {k: v.copy() for k, v in self.model.params.items()}
        bar.close()
        self.model.params = self.best_params
        return self
