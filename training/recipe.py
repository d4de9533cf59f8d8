"""What a paper's `build(config, strategy)` returns: the models, optimizers and train step of its recipe.

Each train script's main and bench/steps.py call the same build, so the benchmark times exactly the
recipe that trains. Call it inside `strategy.scope()`, after setup.configure (seed, dtype policy).
"""
from dataclasses import dataclass, field

from training.checkpoint import Checkpointer


@dataclass
class Recipe:
    models: dict        # checkpoint name -> keras.Model
    optimizers: dict    # checkpoint name -> (optimizer, the models it trains)
    step: object        # the compiled train step: step(batch) -> dict of losses (paper C: step(iterator))
    counter: object     # checkpoint.step_counter(): completed steps, read by schedules inside the step
    extras: dict = field(default_factory=dict)   # other pieces a script needs (VGG, n_critic schedule, ...)

    def checkpointer(self, directory, keep=3, **more):
        """The Checkpointer of this recipe's models, optimizers and counter (plus `more` objects)."""
        return Checkpointer(directory, keep=keep, counter=self.counter, **self.models, **self.optimizers, **more)
