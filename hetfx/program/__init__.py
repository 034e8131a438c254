"""From a design to a Stan program and its data.

``standata`` builds the data, ``rows`` the row-wise families' part of it,
``parameterization`` and ``deviations`` the choices made per group and
equation, ``collapse`` whether the gaussian program integrates the
coefficients out, ``render`` the program text from the templates in ``stan/``.
"""
