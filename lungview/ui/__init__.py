"""lungview.ui"""
