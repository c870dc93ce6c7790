"""Cases: the service layer that owns every change to a case and what each user may see."""
