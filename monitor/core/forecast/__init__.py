"""Forecasting one fund: candidate models for one series (`models`), the backtest that
chooses or combines them with calibrated bands (`engine`), and the joint simulation of
income and expenditure onto the balance (`simulate`). Part of the pure core."""
