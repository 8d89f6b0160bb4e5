"""The clinician dashboard (Plotly Dash); every page calls the API with the user's token."""

from clarity.dashboard._app import PALETTE, create_dashboard

__all__ = ["PALETTE", "create_dashboard"]
