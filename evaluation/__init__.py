"""The papers' evaluation tables, one module per table, and the protocol they share.

    common.py     what needs no TensorFlow: the rows (Method), which images a model trained on,
                  the classical baselines (mean fill, OpenCV, scikit-image, unsharp mask), constants
    protocol.py   scoring, saving the outputs, completing a batch, loading models, the step-0 twins
    grids.py      the image grid of a table
    table_a.py, table_d.py, table_e.py   the tables of papers A, D and E (papers.Paper.table_module)

A table module is named by the registry (`papers.table_module(table)`) and offers evaluate.py:

    add_arguments(parser)        its own argument group ("table X"), whose description says its protocol
    defaults(args)               its defaults for the shared flags (--dataset, --blend, --image-size)
    make(args, log=print)        score every row on the same inputs, write the images -> result dict
    markdown(result)             the result as the markdown table evaluate.py prints and saves
    COMMANDS                     optional: {subcommand: function(argv) -> exit code}
    run_instead(args, log=print) optional: None to make the table, or the (result, text) of what the
                                 flags ask for instead (table E's --model: one model's scores)

A module is imported when evaluate.py builds its parser, so its top-level imports stay free of
TensorFlow; `make` imports the heavy modules (evaluation.protocol, data.sources, ...) when it runs.
"""
