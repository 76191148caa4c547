from django import forms
from django.contrib.auth.forms import UserCreationForm

from stylerec.models import Review
from stylerec.validators import validate_review_text


class ReviewForm(forms.ModelForm):
    rating = forms.TypedChoiceField(
        choices=[(n, f"{n}★") for n in range(5, 0, -1)], coerce=int, widget=forms.RadioSelect
    )

    class Meta:
        model = Review
        fields = ["rating", "title", "text"]
        widgets = {"text": forms.Textarea(attrs={"rows": 4})}

    def clean_text(self) -> str:
        return validate_review_text(self.cleaned_data.get("text", ""))


class SignUpForm(UserCreationForm):
    class Meta(UserCreationForm.Meta):
        fields = ("username",)


class SearchForm(forms.Form):
    q = forms.CharField(required=False, max_length=200)
    category = forms.CharField(required=False, max_length=100)
